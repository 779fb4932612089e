"""The Vagrant provider: `vagrant up` of the shipped Vagrantfile, per cluster.

    settings.py    what `cluster.provider: {type: vagrant, ...}` says, and the names in libvirt
    spec.py        the JSON document the Vagrantfile reads (``python3 -m`` prints it)
    cli.py         running `vagrant` for one cluster; its failures as one error
    sshconfig.py   reading `vagrant ssh-config`
    netcheck.py    refusing ranges that other libvirt networks use
    cleanup.py     what `vagrant destroy` leaves in libvirt
    provider.py    the provider itself (provision, start, stop, destroy, state)

The box is built with the base image: k8sboot/vm_image/vagrant_box.py.
"""
