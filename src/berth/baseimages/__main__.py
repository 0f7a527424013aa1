from berth.baseimages import main

main()
