from sagert.cli.main import main

main()
