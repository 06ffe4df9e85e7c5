"""The example trainer package, laid out the way `gcloud ai-platform jobs submit training` expects.

install_requires lists only what the training environment already has (numpy, google-cloud-storage,
cloudml-hypertune), so installing the package needs no network.
"""

from setuptools import find_packages, setup

setup(
    name="trainer",
    version="0.1",
    packages=find_packages(),
    include_package_data=True,
    description="Tiny numpy MLP classifier used by the airflow-provider-trainjobs demo.",
    install_requires=[],
)
