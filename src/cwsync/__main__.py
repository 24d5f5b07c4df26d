from cwsync.cli.app import main

main()
