// Prints 1 when a C program can link against OpenBLAS here (gyp reads it at configure time), else 0.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// RLHF_NATIVE_BLAS=portable skips the probe: scripts/build_native.mjs --portable builds the portable GEMM on purpose.
if (process.env.RLHF_NATIVE_BLAS === 'portable') {
  process.stdout.write('0');
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'blas-probe-'));
try {
  const src = join(dir, 'probe.c');
  // Our own prototypes: the probe must not depend on which cblas.h variant the system ships.
  writeFileSync(
    src,
    'void cblas_sgemm(int,int,int,int,int,int,float,const float*,int,const float*,int,float,float*,int);\n' +
      'void openblas_set_num_threads(int);\n' +
      'int main(void){float a=1,b=2,c=0;openblas_set_num_threads(1);cblas_sgemm(101,111,111,1,1,1,1.f,&a,1,&b,1,0.f,&c,1);return c==2.f?0:1;}\n',
  );
  const exe = join(dir, 'probe');
  const cc = process.env.CC || 'cc';
  const built = spawnSync(cc, [src, '-o', exe, '-lopenblas'], { stdio: 'ignore' });
  const ran = built.status === 0 ? spawnSync(exe, [], { stdio: 'ignore' }) : undefined;
  process.stdout.write(ran?.status === 0 ? '1' : '0');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
