from mediawatch.cli import main

main()
