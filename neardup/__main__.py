from neardup.worker.cli import main

main()
