"""Everything that talks to libvirt. No Django imports here: this layer is tested on its own."""
