from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version: dict = {}
exec((here / 'mmrest' / 'version.py').read_text(), version)


def read_requirements(name: str) -> list[str]:
    lines = (here / 'requirements' / name).read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines
            if line.split('#')[0].strip() and not line.startswith('-')]


TASK_EXTRAS = ('det', 'seg', 'cls')  # mmdet, mmsegmentation, mmpretrain (each with mmengine)
EXTRAS = {name: read_requirements(f'{name}.txt') for name in (*TASK_EXTRAS, 'timm')}

setup(
    name='mmrest',
    version=version['__version__'],
    description='ResT, ResTv2 and CeiT for OpenMMLab (mmdet, mmseg, mmpretrain), timm and '
                'plain PyTorch',
    long_description=(here / 'README.md').read_text() if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['mmrest', 'mmrest.*']),
    # mmrest/.mim links to configs/, tools/ and model-index.yml (MANIFEST.in): wheels hold
    # them as files, the layout mmengine's `mmrest::` configs and `mim` read.
    include_package_data=True,
    python_requires='>=3.10',  # X | Y type unions (PEP 604) in signatures
    # Never torch, torchvision, numpy or mmcv: installing mmrest into an existing environment
    # keeps what is there (README "Installation"); with torch alone the networks work.
    install_requires=read_requirements('runtime.txt'),
    # The OpenMMLab task packages, each with what it needs (`pip install "mmrest[det]"`), and
    # timm; `all` is every extra.
    extras_require=dict(EXTRAS, all=sorted({r for reqs in EXTRAS.values() for r in reqs}),
                        tests=read_requirements('tests.txt')),
    entry_points={'console_scripts': ['mmrest = mmrest.commands:main']},
    zip_safe=False,
)
