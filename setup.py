from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version: dict = {}
exec((here / 'mmrest' / 'version.py').read_text(), version)


def read_requirements(name: str) -> list[str]:
    lines = (here / 'requirements' / name).read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines
            if line.split('#')[0].strip()]


setup(
    name='mmrest',
    version=version['__version__'],
    description='ResT and ResTv2 backbones for OpenMMLab (mmdet, mmseg, mmpretrain)',
    long_description=(here / 'README.md').read_text() if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['mmrest', 'mmrest.*']),
    python_requires='>=3.8',
    # torch and mmcv (built with ops) are installed beforehand: see README "Installation".
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    zip_safe=False,
)
