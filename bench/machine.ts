// The machine a bench report was measured on (every report carries it: the
// figures mean nothing without the cores and the load they ran beside).
import os from 'node:os';

export function machineInfo(): Record<string, unknown> {
  return {
    host: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: os.loadavg(),
  };
}
