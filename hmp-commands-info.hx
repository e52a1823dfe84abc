HXCOMM The "info" sub-commands of HMP: one C initializer per command (name, args_type, params,
HXCOMM help, handler) followed by its documentation. scripts/hxtool-gen.py turns the
HXCOMM initializers into the hmp_info_cmds[] table; SRST/ERST blocks are documentation.

    {
        .name       = "version",
        .args_type  = "",
        .params     = "",
        .help       = "show the version of QEMU",
        .cmd        = hmp_info_version,
    },

SRST
  ``info version``
    Show the version of QEMU.
ERST

    {
        .name       = "chardev",
        .args_type  = "",
        .params     = "",
        .help       = "show the character devices",
        .cmd        = hmp_info_chardev,
        .if         = "CHARDEV",
    },

SRST
  ``info chardev``
    Show the character devices.
ERST

    {
        .name       = "registers",
        .args_type  = "cpustate_all:-a,vcpu:i?",
        .params     = "[-a|vcpu]",
        .help       = "show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
        .cmd        = hmp_info_registers,
    },

SRST
  ``info registers``
    Show the cpu registers.
ERST

    {
        .name       = "jit",
        .args_type  = "",
        .params     = "",
        .help       = "show dynamic compiler info",
        .cmd        = hmp_info_jit,
    },

SRST
  ``info jit``
    Show the translator's code cache and counters (ours: the layout of upstream's first
    lines, with what our translator counts).
ERST

    {
        .name       = "cpus",
        .args_type  = "",
        .params     = "",
        .help       = "show infos for each CPU",
        .cmd        = hmp_info_cpus,
    },

SRST
  ``info cpus``
    Show infos for each CPU.
ERST

    {
        .name       = "memory_size_summary",
        .args_type  = "",
        .params     = "",
        .help       = "show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes.",
        .cmd        = hmp_info_memory_size_summary,
    },

SRST
  ``info memory_size_summary``
    Display the amount of initially allocated and present hotpluggable (if
    enabled) memory in bytes.
ERST

    {
        .name       = "pci",
        .args_type  = "",
        .params     = "",
        .help       = "show PCI info",
        .cmd        = hmp_info_pci,
    },

SRST
  ``info pci``
    Show the PCI functions: class, IDs, interrupt and BARs, as ``query-pci`` reports them.
ERST

    {
        .name       = "colo",
        .args_type  = "",
        .params     = "",
        .help       = "show the COLO mode, checkpoints and pauses",
        .cmd        = hmp_info_colo,
    },

SRST
  ``info colo``
    Show the COLO mode (query-colo-status) and what COLO did on this side
    (x-query-colo-stats; docs/colo.md).
ERST

    {
        .name       = "colo_compare",
        .args_type  = "id:s?",
        .params     = "[id]",
        .help       = "show colo-compare counters",
        .cmd        = hmp_info_colo_compare,
    },

SRST
  ``info colo_compare`` [*id*]
    Show what each colo-compare object received, released, dropped and why.
ERST

    {
        .name       = "colo_passthrough",
        .args_type  = "id:s?",
        .params     = "[id]",
        .help       = "show the colo-compare passthrough rules",
        .cmd        = hmp_info_colo_passthrough,
    },

SRST
  ``info colo_passthrough`` [*id*]
    Show the passthrough rules of each colo-compare object with their counters.
ERST

    {
        .name       = "block",
        .args_type  = "nodes:-n,verbose:-v,device:B?",
        .params     = "[-n] [-v] [device]",
        .help       = "show info of one block device or all block devices "
                      "(-n: show named nodes; -v: show details)",
        .cmd        = hmp_info_block,
    },

SRST
  ``info block`` [-n] [*device*]
    The block backends as query-block lists them (with ``-n``, the named nodes); ``-v`` (the
    image details) is not built.
ERST

    {
        .name       = "block-jobs",
        .args_type  = "",
        .params     = "",
        .help       = "show progress of ongoing block device operations",
        .cmd        = hmp_info_block_jobs,
    },

SRST
  ``info block-jobs``
    Show the progress of the block jobs.
ERST

    {
        .name       = "iothreads",
        .args_type  = "",
        .params     = "",
        .help       = "show iothreads",
        .cmd        = hmp_info_iothreads,
        .if         = "QOM",
    },

SRST
  ``info iothreads``
    Show the iothreads and their thread ids.
ERST

    {
        .name       = "name",
        .args_type  = "",
        .params     = "",
        .help       = "show the current VM name",
        .cmd        = hmp_info_name,
    },

SRST
  ``info name``
    Show the name given with -name.
ERST

    {
        .name       = "qom-tree",
        .args_type  = "path:s?",
        .params     = "[path]",
        .help       = "show QOM composition tree",
        .cmd        = hmp_info_qom_tree,
        .if         = "QOM",
    },

SRST
  ``info qom-tree`` [*path*]
    Show the object composition tree under *path* (default: /machine).
ERST

    {
        .name       = "status",
        .args_type  = "",
        .params     = "",
        .help       = "show the current VM status (running|paused)",
        .cmd        = hmp_info_status,
    },

SRST
  ``info status``
    Show the run state of the VM.
ERST

    {
        .name       = "network",
        .args_type  = "",
        .params     = "",
        .help       = "show the network state",
        .cmd        = hmp_info_network,
        .if         = "NET",
    },

SRST
  ``info network``
    Show the network state.
ERST

    {
        .name       = "migrate",
        .args_type  = "",
        .params     = "",
        .help       = "show migration status",
        .cmd        = hmp_info_migrate,
    },

SRST
  ``info migrate``
    Show migration status.
ERST

    {
        .name       = "migrate_capabilities",
        .args_type  = "",
        .params     = "",
        .help       = "show current migration capabilities",
        .cmd        = hmp_info_migrate_capabilities,
    },

SRST
  ``info migrate_capabilities``
    Show current migration capabilities.
ERST

    {
        .name       = "migrate_parameters",
        .args_type  = "",
        .params     = "",
        .help       = "show current migration parameters",
        .cmd        = hmp_info_migrate_parameters,
    },

SRST
  ``info migrate_parameters``
    Show current migration parameters.
ERST
