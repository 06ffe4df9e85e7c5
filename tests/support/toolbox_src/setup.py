from setuptools import find_packages, setup

setup(name="toolbox", version="0.1", packages=find_packages(include=["toolbox"]))
