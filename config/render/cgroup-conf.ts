import { ClusterSpec } from "../spec";
import { joinSections, renderHeader } from "./header";

/**
 * cgroup.conf. slurmd reads it at start even when no cgroup plugin is configured in slurm.conf,
 * and without it autodetects cgroup v1/v2; on a cgroup v2 host without systemd that autodetection
 * is what asked dbus for a scope and killed the old setup's slurmd.
 */
export function renderCgroupConf(spec: ClusterSpec): string {
  switch (spec.cgroupMode) {
    case "none":
      return joinSections([
        [renderHeader("cgroup.conf", spec)],
        [
          "# cgroupMode=none: Slurm 24.05+ accepts CgroupPlugin=disabled, so slurmd never touches",
          "# /sys/fs/cgroup nor talks to dbus (the old setup's cgroup_dbus_attach_to_scope failure).",
          "CgroupPlugin=disabled",
        ],
      ]);
    default:
      throw new Error(`no cgroup.conf for cgroupMode ${spec.cgroupMode}`);
  }
}
