from sagert.cli.app import main

main()
