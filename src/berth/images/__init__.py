"""Images: references, layers (apply and produce), import, unpack and image records."""
