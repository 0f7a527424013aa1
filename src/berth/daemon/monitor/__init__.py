"""berthd's monitoring front: the web dashboard, its JSON history API and /metrics, served on
``--metrics-addr`` from the statistics the stats service collects."""
