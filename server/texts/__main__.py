"""`python -m server.texts`: whether the catalogue is whole (every key in Chinese and English, the same
placeholders); exits 1 and lists what is missing when it is not."""
import sys

from server.texts import CATALOGUES, problems

found = problems()
print("\n".join(found) or "the catalogue is whole: %d texts, Chinese and English" % len(CATALOGUES["zh"]))
sys.exit(1 if found else 0)
