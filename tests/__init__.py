import os

# Before anything imports runpod: its DEBUG default would print every job output (images).
os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")
