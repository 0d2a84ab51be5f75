// The accounting database, reached with mysql2 through a byte pipe opened inside the database
// container itself (ContainerExec.pipeTo): nothing is published on the host, it works the same with
// Docker Desktop, whose container networks the host cannot route to, and it needs no other
// container on the accounting network (only slurmdbd is; the controller is not, README "Networks").
// The connection comes from the database's own address on that network, which its grant covers.
import * as mysql from "mysql2/promise";
import { ClusterDaemons } from "./cluster";
import { ROLE_LABEL } from "../config/spec";

/** Runs `work` with a connection to the cluster's accounting database; always closes it. */
async function withAccountingDb<T>(cluster: ClusterDaemons, work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const db = cluster.outputs.database;
  const database = (await cluster.engine.containers(cluster.labels, ROLE_LABEL)).find((c) => c.role === "database");
  if (!database) throw new Error(`stack ${cluster.stack} has no database container: bring it up first`);
  const pipe = await cluster.engine.pipeTo(database.name, db.host, db.port);
  try {
    const conn = await mysql.createConnection({ stream: pipe, user: db.user, password: db.password, database: db.name, connectTimeout: 10000 } as mysql.ConnectionOptions);
    try {
      return await work(conn);
    } finally {
      await conn.end().catch(() => undefined);
    }
  } finally {
    pipe.destroy();
  }
}

interface AccountingSummary {
  /** Clusters registered in the database. */
  clusters: string[];
  /** Jobs (array tasks counted one each) recorded for this cluster, and the highest job id. */
  jobs: number;
  lastJobId: number;
}

export async function accountingSummary(cluster: ClusterDaemons): Promise<AccountingSummary> {
  return withAccountingDb(cluster, async (conn) => {
    const [clusters] = await conn.query<mysql.RowDataPacket[]>("SELECT name FROM cluster_table WHERE deleted = 0");
    const names = clusters.map((r) => String(r.name));
    if (!names.includes(cluster.outputs.clusterName)) return { clusters: names, jobs: 0, lastJobId: 0 };
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS jobs, COALESCE(MAX(id_job), 0) AS last FROM \`${cluster.outputs.clusterName}_job_table\``,
    );
    return { clusters: names, jobs: Number(rows[0].jobs), lastJobId: Number(rows[0].last) };
  });
}
