import { sysError } from '../sys/syscalls.ts';

/** What an open file of the fake host does; every method is optional, as drivers implement only some. */
export interface FakeFile {
  ioctl?(request: number, arg: Uint8Array | number | undefined): number | Promise<number>;
  pread?(buf: Uint8Array, offset: number): number;
  /** A promise where the kernel would block (an FLR inside a config write). */
  pwrite?(buf: Uint8Array, offset: number): number | Promise<number>;
  read?(buf: Uint8Array): number;
  write?(buf: Uint8Array): number;
  /** POLLIN when there is something to read. */
  readiness?(): number;
  close?(): void;
}

export type FakeNode =
  | { type: 'dir' }
  | { type: 'link'; target: string }
  | { type: 'attr'; show(): string; store?(text: string): void }
  | { type: 'dev'; open(flags: number): FakeFile };

function norm(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

function dirname(p: string): string {
  return norm(p + '/..');
}

/**
 * An in-memory tree of the paths the vfio transport reads and writes: sysfs attributes whose show and
 * store do what the kernel's do, symbolic links, directories and device nodes. Symbolic links are
 * followed when a path is resolved, as the kernel does.
 */
export class FakeFs {
  private readonly nodes = new Map<string, FakeNode>([['/', { type: 'dir' }]]);

  dir(path: string): void {
    const p = norm(path);
    if (this.nodes.has(p)) return;
    this.dir(dirname(p));
    this.nodes.set(p, { type: 'dir' });
  }

  attr(path: string, show: () => string, store?: (text: string) => void): void {
    const p = norm(path);
    this.dir(dirname(p));
    this.nodes.set(p, { type: 'attr', show, store });
  }

  /** A plain file with fixed content. */
  file(path: string, text: string): void {
    let content = text;
    this.attr(
      path,
      () => content,
      (t) => {
        content = t;
      },
    );
  }

  link(path: string, target: string): void {
    const p = norm(path);
    this.dir(dirname(p));
    this.nodes.set(p, { type: 'link', target });
  }

  dev(path: string, open: (flags: number) => FakeFile): void {
    const p = norm(path);
    this.dir(dirname(p));
    this.nodes.set(p, { type: 'dev', open });
  }

  /** Removes a path and everything under it. */
  remove(path: string): void {
    const p = norm(path);
    for (const k of [...this.nodes.keys()]) if (k === p || k.startsWith(p + '/')) this.nodes.delete(k);
  }

  /** Follows links in every component; undefined when a component is missing. */
  resolve(path: string, followLast = true): string | undefined {
    const parts = norm(path).split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0, hops = 0; i < parts.length; i++) {
      const next = norm(`${cur}/${parts[i]}`);
      const n = this.nodes.get(next);
      if (!n) return undefined;
      if (n.type === 'link' && (followLast || i < parts.length - 1)) {
        if (++hops > 40) return undefined;
        const target = n.target.startsWith('/') ? n.target : `${cur}/${n.target}`;
        const rest = parts.slice(i + 1).join('/');
        return this.resolve(rest ? `${target}/${rest}` : target, followLast);
      }
      cur = next;
    }
    return cur;
  }

  node(path: string, followLast = true): FakeNode | undefined {
    const r = this.resolve(path, followLast);
    return r === undefined ? undefined : this.nodes.get(r);
  }

  readlink(path: string): string | undefined {
    const n = this.node(path, false);
    return n?.type === 'link' ? n.target : undefined;
  }

  readdir(path: string): string[] {
    const r = this.resolve(path);
    if (r === undefined || this.nodes.get(r)?.type !== 'dir') return [];
    const prefix = r === '/' ? '/' : r + '/';
    const out: string[] = [];
    for (const k of this.nodes.keys()) if (k.startsWith(prefix) && k.length > prefix.length && !k.slice(prefix.length).includes('/')) out.push(k.slice(prefix.length));
    return out.sort();
  }

  exists(path: string): boolean {
    return this.node(path) !== undefined;
  }

  readText(path: string): string {
    const n = this.node(path);
    if (!n) throw sysError(`read ${path}`, 'ENOENT');
    if (n.type !== 'attr') throw sysError(`read ${path}`, 'EINVAL', `not a file`);
    return n.show();
  }

  writeText(path: string, text: string): void {
    const n = this.node(path);
    if (!n) throw sysError(`write ${path}`, 'ENOENT');
    if (n.type !== 'attr' || !n.store) throw sysError(`write ${path}`, 'EACCES');
    n.store(text);
  }
}
