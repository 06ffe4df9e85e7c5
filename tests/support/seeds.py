"""Inputs taken from the seed documents, shared by the spec tests."""

# Seed 004, example 2: the config.yaml with a CUSTOM cluster and scheduling, written out exactly as the seed
# shows it (the rest of the job comes from flags).
SEED_004_CONFIG_YAML = """\
trainingInput:
  scaleTier: CUSTOM
  masterType: complex_model_m
  workerType: complex_model_m
  parameterServerType: large_model
  workerCount: 9
  parameterServerCount: 3
  runtimeVersion: '2.4'
  pythonVersion: '3.7'
  scheduling:
    maxWaitTime: 3600s
    maxRunningTime: 7200s
"""
