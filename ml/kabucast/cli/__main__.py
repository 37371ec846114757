import sys

from kabucast.cli.main import main

sys.exit(main())
