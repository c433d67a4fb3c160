"""Domain XML for tests that need a VM row with one file disk and no host to read it from."""

ONE_DISK_XML = (
    "<domain type='kvm'><name>src</name><uuid>11111111-2222-3333-4444-555555555555</uuid><devices>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/pool/11111111-2222-3333-4444-555555555555-disk0.qcow2'/><target dev='vda' bus='virtio'/></disk>"
    "</devices></domain>"
)
