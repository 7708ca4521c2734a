import importlib.metadata

import pytest

from ghostdet.utils.version_check import SUPPORTED, check_versions, find_version_problems


def fake_versions(**versions):
    def get_version(name):
        if versions.get(name) is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]
    return get_version


def test_installed_versions_are_supported():
    assert find_version_problems() == []


def test_supported_set_passes():
    check_versions(fake_versions(mmcv='2.1.0', mmengine='0.10.7', mmdet='3.3.0'))


@pytest.mark.parametrize('name,version', [('mmcv', '2.2.0'), ('mmcv', '1.7.1'),
                                          ('mmengine', '0.6.0'), ('mmdet', '2.28.2'),
                                          ('mmdet', '3.4.0')])
def test_unsupported_version_names_found_and_needed(name, version):
    versions = dict(mmcv='2.1.0', mmengine='0.10.7', mmdet='3.3.0')
    versions[name] = version
    with pytest.raises(ImportError) as err:
        check_versions(fake_versions(**versions))
    low, high = SUPPORTED[name]
    assert f'{name} {version} is installed' in str(err.value)
    assert f'{name}>={low},<{high}' in str(err.value)
    assert str(err.value).count('is installed') == 1


def test_missing_package_is_named():
    needed = r'mmdet is not installed \(needed: mmdet>=3.0.0,<3.4.0\)'
    with pytest.raises(ImportError, match=needed):
        check_versions(fake_versions(mmcv='2.1.0', mmengine='0.10.7', mmdet=None))


def test_prerelease_lower_bound():
    assert find_version_problems(fake_versions(mmcv='2.0.0rc4', mmengine='0.10.7',
                                               mmdet='3.3.0')) == []
    problems = find_version_problems(fake_versions(mmcv='2.0.0rc3', mmengine='0.10.7',
                                                   mmdet='3.3.0'))
    assert problems == ['mmcv 2.0.0rc3 is installed (needed: mmcv>=2.0.0rc4,<2.2.0)']
