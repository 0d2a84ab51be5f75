import { ClusterSpec } from "../spec";
import { joinSections, renderHeader } from "./header";

const CONSTRAIN = [
  "# Hold each job to what it was allocated: CPUs, memory (a job over --mem is OOM-killed), devices.",
  "ConstrainCores=yes",
  "ConstrainRAMSpace=yes",
  "ConstrainDevices=yes",
];

/**
 * cgroup.conf, per cgroupMode and host cgroup version. slurmd reads it at start even when
 * slurm.conf names no cgroup plugin, and without it autodetects the cgroup version; on a
 * cgroup v2 host without systemd that autodetection asks dbus for a scope, which no one answers,
 * and slurmd exits ("cgroup_dbus_attach_to_scope: cannot connect to dbus system daemon").
 */
export function renderCgroupConf(spec: ClusterSpec): string {
  const header = [renderHeader("cgroup.conf", spec)];
  const v = spec.hostCgroupVersion;
  switch (spec.cgroupMode) {
    case "none":
      return joinSections([
        header,
        [
          "# cgroupMode=none: Slurm 24.05+ accepts CgroupPlugin=disabled, so slurmd never touches",
          "# /sys/fs/cgroup nor talks to dbus (no cgroup_dbus_attach_to_scope failure without systemd).",
          "CgroupPlugin=disabled",
        ],
      ]);
    case "cgroup":
      return joinSections([
        header,
        v === 1
          ? [
              "# cgroupMode=cgroup on a cgroup v1 host: slurmd creates /slurm_<node>/uid_<uid>/job_<id>/step_<n>",
              "# in each controller, under the cgroup the worker sees as the root (its own parent cgroup).",
              "CgroupPlugin=cgroup/v1",
            ]
          : [
              "# cgroupMode=cgroup on a cgroup v2 host, without systemd in the container:",
              "# IgnoreSystemd=yes (cgroup.conf(5), cgroup/v2 only) makes slurmd create its slurmstepd scope",
              "# in the cgroup tree itself instead of asking systemd over dbus, a call that fails where no",
              "# systemd runs. EnableControllers=yes makes slurmd enable the controllers listed in",
              "# cgroup.controllers down to its own cgroup, since no systemd does it in a private namespace.",
              "CgroupPlugin=cgroup/v2",
              "IgnoreSystemd=yes",
              "EnableControllers=yes",
            ],
        CONSTRAIN,
      ]);
    case "systemd":
      return joinSections([
        header,
        v === 1
          ? [
              "# cgroupMode=systemd on a cgroup v1 host: systemd is PID 1 in the worker and slurmd.service",
              "# runs with Delegate=yes; Slurm's job cgroups live in the v1 controller hierarchies.",
              "CgroupPlugin=cgroup/v1",
            ]
          : [
              "# cgroupMode=systemd on a cgroup v2 host: systemd is PID 1 in the worker, so slurmd asks it",
              "# over dbus for its slurmstepd scope (the normal path), inside the delegated slurmd.service.",
              "CgroupPlugin=cgroup/v2",
            ],
        CONSTRAIN,
      ]);
  }
}
