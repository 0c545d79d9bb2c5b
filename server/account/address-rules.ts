// Address rules (issue 13): which client addresses may connect (config `allowFrom`/`denyFrom`) and
// log in as a user (the record's `allowFrom`/`denyFrom`). Lists of CIDRs, IPv4 and IPv6, matched
// with node's net.BlockList; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 rules.
// Deny wins; a non-empty allow list must match. Empty lists allow everyone.
import { BlockList, isIP } from 'node:net';

/** Allow and deny lists of CIDR texts, as the config and user records hold them. */
export interface AddressLists {
  allowFrom?: string[];
  denyFrom?: string[];
}

/**
 * Checks one CIDR (`127.0.0.2/32`, `::1/128`, or a bare address meaning one host) and returns it
 * normalised (with its prefix); throws with what is wrong.
 */
export function parseCidr(text: string): { addr: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const v = isIP(addr);
  if (v === 0) throw new Error(`invalid CIDR "${text}": "${addr}" is not an IP address`);
  const max = v === 4 ? 32 : 128;
  const ptext = slash < 0 ? String(max) : t.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(ptext) ? Number(ptext) : NaN;
  if (!(prefix >= 0 && prefix <= max))
    throw new Error(`invalid CIDR "${text}": the prefix must be 0 to ${max}`);
  return { addr, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A `--allow-from`/`--deny-from` argument: comma-separated CIDRs, or `none`/empty for no list.
 * Returns the normalised list (empty = none); throws on a bad CIDR.
 */
export function parseCidrList(text: string): string[] {
  const t = text.trim();
  if (t === '' || t === 'none') return [];
  return t.split(',').map((c) => {
    const p = parseCidr(c);
    return `${p.addr}/${p.prefix}`;
  });
}

/** A compiled CIDR list (also the balancers of proxyProtocol). */
export class CidrSet {
  private readonly list = new BlockList();

  constructor(readonly cidrs: readonly string[]) {
    for (const c of cidrs) {
      const p = parseCidr(c);
      this.list.addSubnet(p.addr, p.prefix, p.family);
    }
  }

  has(addr: string): boolean {
    const v = isIP(addr);
    if (v === 0) return false;
    return this.list.check(addr, v === 4 ? 'ipv4' : 'ipv6');
  }
}

/** How an address is shown in reasons: an IPv4-mapped one as the IPv4 address it is. */
function shown(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

/** Compiled allow and deny lists; `refusal(addr)` says why an address is refused, or null. */
export class AddressRules {
  private readonly allow: CidrSet;
  private readonly deny: CidrSet;

  /** `where` names the lists in reasons: "" for a user's, "global " for the config's. */
  constructor(
    lists: AddressLists,
    private readonly where = '',
  ) {
    this.allow = new CidrSet(lists.allowFrom ?? []);
    this.deny = new CidrSet(lists.denyFrom ?? []);
  }

  /** No rule at all: everyone is allowed. */
  get empty(): boolean {
    return this.allow.cidrs.length === 0 && this.deny.cidrs.length === 0;
  }

  refusal(addr: string): string | null {
    if (this.empty) return null;
    if (this.deny.has(addr))
      return `address ${shown(addr)} in ${this.where}denyFrom ${this.deny.cidrs.join(',')}`;
    if (this.allow.cidrs.length > 0 && !this.allow.has(addr))
      return `address ${shown(addr)} not in ${this.where}allowFrom ${this.allow.cidrs.join(',')}`;
    return null;
  }
}

/** Why a user's rules refuse this address, or null (a record with no rules allows everyone). */
export function userAddressRefusal(r: AddressLists, addr: string): string | null {
  if (!r.allowFrom?.length && !r.denyFrom?.length) return null;
  return new AddressRules(r).refusal(addr);
}
