import * as pulumi from "@pulumi/pulumi";

/**
 * A readiness healthcheck, polled every 2 s: containers created with `wait: true` count as
 * created once it passes; `retries` failures in a row (after a 5 s start period) mark them unhealthy.
 */
export function readinessCheck(tests: string[], retries = 60) {
  return { tests, interval: "2s", timeout: "5s", retries, startPeriod: "5s" };
}

/** Ready when something listens on the TCP port inside the container (bash's /dev/tcp, no extra tools). */
export function tcpReadinessCheck(port: number, retries = 60) {
  return readinessCheck(["CMD-SHELL", `timeout 2 bash -c '</dev/tcp/127.0.0.1/${port}'`], retries);
}

/** The cluster's munge key as an upload; the entrypoint then hands it to the munge user. */
export function mungeKeyUpload(keyBase64: pulumi.Input<string>) {
  return { file: "/etc/munge/munge.key", contentBase64: keyBase64, permissions: "0400" };
}
