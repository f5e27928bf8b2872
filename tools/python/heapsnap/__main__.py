import sys

from .dumper import main

sys.exit(main())
