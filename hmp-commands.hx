HXCOMM HMP commands: one C initializer per command (name with '|' aliases, args_type in QEMU's
HXCOMM notation, params, help, handler) followed by its documentation. scripts/hxtool-gen.py
HXCOMM turns the initializers into the hmp_cmds[] table; SRST/ERST blocks are documentation.
HXCOMM ".if" names a subsystem (QOM, CHARDEV) that must be built for the row to exist.

    {
        .name       = "help|?",
        .args_type  = "name:S?",
        .params     = "[cmd]",
        .help       = "show the help",
        .cmd        = hmp_help,
    },

SRST
``help`` or ``?`` [*cmd*]
  Show the help for all commands or just for command *cmd*.
ERST

    {
        .name       = "quit|q",
        .args_type  = "",
        .params     = "",
        .help       = "quit the emulator",
        .cmd        = hmp_quit,
    },

SRST
``quit`` or ``q``
  Quit the emulator.
ERST

    {
        .name       = "stop|s",
        .args_type  = "",
        .params     = "",
        .help       = "stop emulation",
        .cmd        = hmp_stop,
    },

SRST
``stop`` or ``s``
  Stop emulation.
ERST

    {
        .name       = "cont|c",
        .args_type  = "",
        .params     = "",
        .help       = "resume emulation",
        .cmd        = hmp_cont,
    },

SRST
``cont`` or ``c``
  Resume emulation.
ERST

    {
        .name       = "system_reset",
        .args_type  = "",
        .params     = "",
        .help       = "reset the system",
        .cmd        = hmp_system_reset,
    },

SRST
``system_reset``
  Reset the system.
ERST

    {
        .name       = "system_powerdown",
        .args_type  = "",
        .params     = "",
        .help       = "send system power down event",
        .cmd        = hmp_system_powerdown,
    },

SRST
``system_powerdown``
  Power down the system (if supported).
ERST

    {
        .name       = "object_add",
        .args_type  = "object:S",
        .params     = "[qom-type=]type,id=str[,prop=value][,...]",
        .help       = "create QOM object",
        .cmd        = hmp_object_add,
        .if         = "QOM",
    },

SRST
``object_add`` *object*
  Create a QOM object, as -object does.
ERST

    {
        .name       = "object_del",
        .args_type  = "id:s",
        .params     = "id",
        .help       = "destroy QOM object",
        .cmd        = hmp_object_del,
        .if         = "QOM",
    },

SRST
``object_del`` *id*
  Destroy the QOM object *id*.
ERST

    {
        .name       = "chardev-add",
        .args_type  = "args:s",
        .params     = "args",
        .help       = "add chardev",
        .cmd        = hmp_chardev_add,
        .if         = "CHARDEV",
    },

SRST
``chardev-add`` *args*
  Add a chardev, with the -chardev syntax.
ERST

    {
        .name       = "chardev-remove",
        .args_type  = "id:s",
        .params     = "id",
        .help       = "remove chardev",
        .cmd        = hmp_chardev_remove,
        .if         = "CHARDEV",
    },

SRST
``chardev-remove`` *id*
  Remove the chardev *id*.
ERST

    {
        .name       = "colo_passthrough_add",
        .args_type  = "protocol:s,id:s?,src_ip:s?,dst_ip:s?,src_port:i?,dst_port:i?",
        .params     = "protocol [id] [src_ip] [dst_ip] [src_port] [dst_port]",
        .help       = "stop comparing a flow in colo-compare",
        .cmd        = hmp_colo_passthrough_add,
    },

SRST
``colo_passthrough_add`` *protocol* [*id*] [*src_ip*] [*dst_ip*] [*src_port*] [*dst_port*]
  Add a passthrough rule to the colo-compare object *id* (optional when there is only one):
  packets of the flow are released from the primary at once and never compared. Absent fields,
  port 0 and address 0.0.0.0 match anything.
ERST

    {
        .name       = "colo_passthrough_del",
        .args_type  = "protocol:s,id:s?,src_ip:s?,dst_ip:s?,src_port:i?,dst_port:i?",
        .params     = "protocol [id] [src_ip] [dst_ip] [src_port] [dst_port]",
        .help       = "compare a flow in colo-compare again",
        .cmd        = hmp_colo_passthrough_del,
    },

SRST
``colo_passthrough_del`` *protocol* [*id*] [*src_ip*] [*dst_ip*] [*src_port*] [*dst_port*]
  Remove the passthrough rule with exactly these fields.
ERST

    {
        .name       = "passthrough_filter_add",
        .args_type  = "protocol:s?,object-name:s,src:s?,dst:s?",
        .params     = "[protocol] object-name [src] [dst]",
        .help       = "stop comparing a flow in colo-compare (host:port addresses)",
        .cmd        = hmp_passthrough_filter_add,
    },

SRST
``passthrough_filter_add`` [*protocol*] *object-name* [*src*] [*dst*]
  Add a passthrough rule to colo-compare *object-name*; *src* and *dst* are ``host:port``, and
  either part may be empty: ``10.0.0.2:`` is every port of that host, ``:3389`` that port on
  every host.
ERST

    {
        .name       = "passthrough_filter_del",
        .args_type  = "protocol:s?,object-name:s,src:s?,dst:s?",
        .params     = "[protocol] object-name [src] [dst]",
        .help       = "compare a flow in colo-compare again (host:port addresses)",
        .cmd        = hmp_passthrough_filter_del,
    },

SRST
``passthrough_filter_del`` [*protocol*] *object-name* [*src*] [*dst*]
  Remove the passthrough rule with exactly these fields.
ERST

    {
        .name       = "info",
        .args_type  = "item:s?",
        .params     = "[subcommand]",
        .help       = "show various information about the system state",
        .sub_table  = hmp_info_cmds,
    },

SRST
``info`` *subcommand*
  Show information about the system state; ``info`` alone lists the sub-commands.
ERST

    {
        .name       = "netdev_add",
        .args_type  = "netdev:s",
        .params     = "[user|tap|socket|stream|dgram|vde|bridge|hubport|netmap|vhost-user],id=str[,prop=value][,...]",
        .help       = "add host network device",
        .cmd        = hmp_netdev_add,
        .if         = "NET",
    },

SRST
``netdev_add``
  Add host network device.
ERST

    {
        .name       = "netdev_del",
        .args_type  = "id:s",
        .params     = "id",
        .help       = "remove host network device",
        .cmd        = hmp_netdev_del,
        .if         = "NET",
    },

SRST
``netdev_del``
  Remove host network device.
ERST

    {
        .name       = "set_link",
        .args_type  = "name:s,up:b",
        .params     = "name on|off",
        .help       = "change the link status of a network adapter",
        .cmd        = hmp_set_link,
        .if         = "NET",
    },

SRST
``set_link`` *name* ``[on|off]``
  Switch link *name* on (i.e. up) or off (i.e. down).
ERST

    {
        .name       = "migrate",
        .args_type  = "detach:-d,blk:-b,inc:-i,resume:-r,uri:s",
        .params     = "[-d] [-b] [-i] [-r] uri",
        .help       = "migrate to URI (using -d to not wait for completion)\n\t\t\t -b for migration without shared storage with full copy of disk\n\t\t\t -i for migration without shared storage with incremental copy of disk (base image shared between src and destination)\n\t\t\t -r to resume a paused migration",
        .cmd        = hmp_migrate,
    },

SRST
``migrate [-d] [-b] [-i] [-r]`` *uri*
  Migrate to *uri* (tcp:HOST:PORT, unix:PATH, exec:COMMAND). Without ``-d`` the monitor gives
  its prompt back when the migration ends; with ``-d`` at once; ``info migrate`` follows it. ``-b`` and ``-i`` are refused (no
  block migration); ``-r`` is refused (no postcopy).
ERST

    {
        .name       = "migrate_cancel",
        .args_type  = "",
        .params     = "",
        .help       = "cancel the current VM migration",
        .cmd        = hmp_migrate_cancel,
    },

SRST
``migrate_cancel``
  Cancel the current VM migration.
ERST

    {
        .name       = "migrate_continue",
        .args_type  = "state:s",
        .params     = "state",
        .help       = "Continue migration from the given paused state",
        .cmd        = hmp_migrate_continue,
    },

SRST
``migrate_continue`` *state*
  Continue migration from the paused state *state* (pre-switchover).
ERST

    {
        .name       = "x_colo_lost_heartbeat",
        .args_type  = "",
        .params     = "",
        .help       = "Tell COLO that heartbeat is lost,\n\t\t\ta failover or takeover is needed.",
        .cmd        = hmp_x_colo_lost_heartbeat,
    },

SRST
``x_colo_lost_heartbeat``
  Tell COLO that the heartbeat is lost: fail over to this side (docs/colo.md).
ERST

    {
        .name       = "migrate_incoming",
        .args_type  = "uri:s",
        .params     = "uri",
        .help       = "Continue an incoming migration from an -incoming defer",
        .cmd        = hmp_migrate_incoming,
    },

SRST
``migrate_incoming`` *uri*
  Continue an incoming migration using the *uri* (that has the same syntax
  as the ``-incoming`` option).
ERST

    {
        .name       = "announce_self",
        .args_type  = "interfaces:s?,id:s?",
        .params     = "[interfaces] [id]",
        .help       = "Trigger GARP/RARP announcements",
        .cmd        = hmp_announce_self,
    },

SRST
``announce_self`` [*interfaces*] [*id*]
  Every NIC (or those in the comma-separated *interfaces*) sends RARP frames from its MAC
  address on the schedule of the announce-* migration parameters. *id* names the schedule: a
  later announce_self with the same id replaces it.
ERST

    {
        .name       = "migrate_set_capability",
        .args_type  = "capability:s,state:b",
        .params     = "capability state",
        .help       = "Enable/Disable the usage of a capability for migration",
        .cmd        = hmp_migrate_set_capability,
    },

SRST
``migrate_set_capability`` *capability* *state*
  Enable or disable a migration capability (docs/migration.md says which ones qemu-colo has).
ERST

    {
        .name       = "migrate_set_parameter",
        .args_type  = "parameter:s,value:s",
        .params     = "parameter value",
        .help       = "Set the parameter for migration",
        .cmd        = hmp_migrate_set_parameter,
    },

SRST
``migrate_set_parameter`` *parameter* *value*
  Set a migration parameter. Sizes take k, M, G... suffixes; a plain ``max-bandwidth`` is in
  MiB/s.
ERST

    {
        .name       = "drive_mirror",
        .args_type  = "reuse:-n,full:-f,device:B,target:s,format:s?",
        .params     = "[-n] [-f] device target [format]",
        .help       = "initiates live storage\n\t\t\t"
                      "migration for a device. The device's contents are\n\t\t\t"
                      "copied to the new image file, including data that\n\t\t\t"
                      "is written after the command is started.\n\t\t\t"
                      "The -n flag requests QEMU to reuse the image found\n\t\t\t"
                      "in new-image-file, instead of recreating it from scratch.\n\t\t\t"
                      "The -f flag requests QEMU to copy the whole disk,\n\t\t\t"
                      "so that the result does not need a backing file.\n\t\t\t",
        .cmd        = hmp_drive_mirror,
    },

SRST
``drive_mirror`` [-n] [-f] *device* *target* [*format*]
  Start mirroring *device* to the image *target* (created as a raw file of the same size unless
  ``-n``); without ``-f`` the sync mode is ``top``. docs/block.md, "Block jobs".
ERST

    {
        .name       = "block_job_set_speed",
        .args_type  = "device:B,speed:o",
        .params     = "device speed",
        .help       = "set maximum speed for a background block operation",
        .cmd        = hmp_block_job_set_speed,
    },

SRST
``block_job_set_speed`` *device* *speed*
  Set the maximum speed of a block job (bytes per second; a size such as ``10M``).
ERST

    {
        .name       = "block_job_cancel",
        .args_type  = "force:-f,device:B",
        .params     = "[-f] device",
        .help       = "stop an active background block operation (use -f"
                      "\n\t\t\t if you want to abort the operation immediately"
                      "\n\t\t\t instead of keep running until data is in sync)",
        .cmd        = hmp_block_job_cancel,
    },

SRST
``block_job_cancel`` [-f] *device*
  Stop a block job. A mirror in sync ends in sync without switching to its target; ``-f``
  aborts at once.
ERST

    {
        .name       = "block_job_complete",
        .args_type  = "device:B",
        .params     = "device",
        .help       = "stop an active background block operation",
        .cmd        = hmp_block_job_complete,
    },

SRST
``block_job_complete`` *device*
  Complete a block job in the ready state: a mirror switches its device to the target.
ERST

    {
        .name       = "nbd_server_start",
        .args_type  = "all:-a,writable:-w,uri:s",
        .params     = "nbd_server_start [-a] [-w] host:port",
        .help       = "serve block devices on the given host and port",
        .cmd        = hmp_nbd_server_start,
    },

SRST
``nbd_server_start`` [-a] [-w] *host*:*port*
  Start an NBD server on the given address (``unix:PATH`` also works). With ``-a`` every block
  device is exported at once, writable with ``-w``. docs/nbd.md.
ERST

    {
        .name       = "nbd_server_add",
        .args_type  = "writable:-w,device:B,name:s?",
        .params     = "nbd_server_add [-w] device [name]",
        .help       = "export a block device via NBD",
        .cmd        = hmp_nbd_server_add,
    },

SRST
``nbd_server_add`` [-w] *device* [*name*]
  Export a block device over the running NBD server, under *name* (default: the device's).
ERST

    {
        .name       = "nbd_server_remove",
        .args_type  = "force:-f,name:s",
        .params     = "nbd_server_remove [-f] name",
        .help       = "remove an export previously exposed via NBD",
        .cmd        = hmp_nbd_server_remove,
    },

SRST
``nbd_server_remove`` [-f] *name*
  Remove an export; ``-f`` disconnects its clients, otherwise it is refused while they are on.
ERST

    {
        .name       = "nbd_server_stop",
        .args_type  = "",
        .params     = "nbd_server_stop",
        .help       = "stop serving block devices using the NBD protocol",
        .cmd        = hmp_nbd_server_stop,
    },

SRST
``nbd_server_stop``
  Stop the NBD server: every export is removed and every client disconnected.
ERST

    {
        .name       = "drive_add",
        .args_type  = "node:-n,pci_addr:s,opts:s",
        .params     = "[-n] [[<domain>:]<bus>:]<slot>\n[file=file][,if=type][,bus=n]\n[,unit=m][,media=d][,index=i]\n[,snapshot=on|off][,cache=on|off]\n[,readonly=on|off][,copy-on-read=on|off]",
        .help       = "add drive to PCI storage controller",
        .cmd        = hmp_drive_add,
    },

SRST
``drive_add`` [-n] *pci_addr* *opts*
  Add a drive with the ``-drive`` options *opts* (only ``if=none`` can be hot-added); the PCI
  address is ignored, as upstream. With ``-n``, add a block node without a device (it needs a
  ``node-name``), as COLO's runbook adds its replication child.
ERST

    {
        .name       = "eject",
        .args_type  = "force:-f,device:B",
        .params     = "[-f] device",
        .help       = "eject a removable medium (use -f to force it)",
        .cmd        = hmp_eject,
    },

SRST
``eject [-f]`` *device*
  Open the tray of a removable device (a CD drive) and take its medium out; ``-f`` opens a
  tray the guest locked.
ERST

    {
        .name       = "change",
        .args_type  = "device:B,force:-f,target:s,arg:s?,read-only-mode:s?",
        .params     = "device [-f] filename [format [read-only-mode]]",
        .help       = "change a removable medium, optional format, use -f to force the operation",
        .cmd        = hmp_change,
    },

SRST
``change`` *device* [-f] *filename* [*format* [*read-only-mode*]]
  Put the image *filename* into a removable device (blockdev-change-medium): open the tray,
  change the medium, close the tray. *read-only-mode* is ``retain``, ``read-only`` or
  ``read-write``.
ERST

    {
        .name       = "drive_del",
        .args_type  = "id:B",
        .params     = "device",
        .help       = "remove host block device",
        .cmd        = hmp_drive_del,
    },

SRST
``drive_del`` *device*
  Remove a drive (a ``-drive`` backend, whose device then sees no medium) or a node added with
  ``drive_add -n`` or ``blockdev-add``.
ERST
