"""Writes a folder's files into a bucket or container with the provider's own SDK, the way
billing exports land there: `upload.py s3 ENDPOINT BUCKET FOLDER` (boto3, against moto) or
`upload.py azure CONNECTION_STRING CONTAINER FOLDER` (azure-storage-blob, against azurite).
The bucket or container is created when missing; keys are the files' paths under FOLDER."""

import pathlib
import sys


def files(folder):
    """Data files first, manifests last, as providers write them: a manifest names files that
    are already there."""
    root = pathlib.Path(folder)
    found = [(p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file()]
    return sorted(found, key=lambda item: (item[0].lower().endswith("manifest.json"), item[0]))


def s3(endpoint, bucket, folder):
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    for key, path in files(folder):
        client.upload_file(str(path), bucket, key)


def azure(connection, container, folder):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection)
    client = service.get_container_client(container)
    if not client.exists():
        client.create_container()
    for key, path in files(folder):
        with open(path, "rb") as data:
            client.upload_blob(key, data, overwrite=True)


if __name__ == "__main__":
    kind, target, name, folder = sys.argv[1:5]
    {"s3": s3, "azure": azure}[kind](target, name, folder)
