from tersim.cli import main

main()
