from prospectflow.cli import main

main()
