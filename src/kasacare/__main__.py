from kasacare.cli import main

main()
