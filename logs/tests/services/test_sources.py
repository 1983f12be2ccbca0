"""Stored uploads are read from any storage backend, local or remote."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from logs.services.sources import stored_copy


def test_stored_copy_of_a_remote_storage_is_a_temporary_local_file(settings):
    """With a storage that has no local paths (like S3), the file is copied down, then removed."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    name = default_storage.save("executions/remote.csv", ContentFile(b"user_id,login_count\n"))
    with stored_copy(name) as path:
        assert path.read_bytes() == b"user_id,login_count\n"
    assert not path.exists()


def test_stored_copy_on_local_disk_is_the_file_itself(settings, tmp_path):
    """With file-system storage the stored file is read in place, not copied."""
    settings.MEDIA_ROOT = str(tmp_path)
    name = default_storage.save("executions/local.csv", ContentFile(b"x"))
    with stored_copy(name) as path:
        assert path == tmp_path / name
    assert path.exists()
