from comicdesk.cli import main

raise SystemExit(main())
