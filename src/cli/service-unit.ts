/**
 * What `metalbox install-service` writes: a systemd unit that runs `serve` as an
 * unprivileged user with only the capability it needs, and a config skeleton. Pure text
 * from the paths given; the command does the file system and the user.
 */

export interface ServicePaths {
  /** Absolute path of the node binary that runs metalbox. */
  node: string;
  /** Absolute path of metalbox's CLI entry (dist/src/cli/main.js). */
  cli: string;
  user: string;
  dataDir: string;
  configFile: string;
}

export function systemdUnit(paths: ServicePaths): string {
  return `# Written by metalbox install-service. Edit settings in ${paths.configFile}, not here.
[Unit]
Description=metalbox bare-metal provisioning appliance (ProxyDHCP, TFTP, HTTP, API)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${paths.user}
Group=${paths.user}
ExecStart=${paths.node} ${paths.cli} serve --config ${paths.configFile} --data-dir ${paths.dataDir}
# Ports 67 (ProxyDHCP) and 69 (TFTP) are below 1024: binding them is the one privilege
# metalbox needs. It sends no raw packets (no CAP_NET_RAW): its DHCP and TFTP are UDP
# sockets, broadcasts included. ProtectHome: node and metalbox must not live under /home.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=true
ProtectSystem=strict
ReadWritePaths=${paths.dataDir}
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
LimitNOFILE=65536
# serve stops its services in order on SIGTERM and exits 0; a crash restarts it, and a
# restart recovers whatever was under way (jobs are leased rows, every change a transaction).
Restart=on-failure
RestartSec=2
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;
}

/** The config file's first version: every line a comment but the address, which the operator must choose. */
export function configSkeleton(paths: Pick<ServicePaths, 'dataDir'>): string {
  return `# metalbox serve's settings (metalbox serve --help, or the README's settings table).
# Flags and METALBOX_* environment variables override this file.

# The provisioning interface's address: booting machines are sent here. Required when
# the host has more than one IPv4 address.
# advertise: 192.0.2.10

# Kernels, initrds and images that profiles name by relative path, served under /assets/.
# assetsDir: /srv/metalbox/assets

# http:
#   port: 8080
#   fileThreads: 0

# What to do with PXE clients that are not in the inventory: ignore, or discover (the agent
# enrols them; run metalbox agent build --data-dir ${paths.dataDir} first).
# boot:
#   unknown: ignore

# Default BMC credentials by MAC prefix (passwords from files, never in this one):
# bmc:
#   credentials:
#     - { macPrefix: "94:40:c9", username: admin, passwordFile: /etc/metalbox/ilo-password }

# profiles: {}
# serverTypes: []
`;
}
