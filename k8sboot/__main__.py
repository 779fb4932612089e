from k8sboot.cli import main

raise SystemExit(main())
