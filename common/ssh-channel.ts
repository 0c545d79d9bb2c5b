// The SSH channel window and maximum packet size that our ends advertise, through the ssh2 options
// `channelWindow` / `channelPacketSize` that our patch adds (patches/ssh2+1.17.0.patch; stock ssh2
// advertises 32 KiB packets and a 2 MiB window, and refuses incoming packets over 35 000 bytes; with
// the options it accepts packets up to the advertised size).
//
// The packet size leaves room for one SFTP READ reply or WRITE of 255 KiB (our limits@openssh.com)
// plus its headers in one SSH packet, while the whole SSH packet stays within the 256 KiB that
// OpenSSH accepts. Advertising it is safe with any peer: a peer sends at most that, and may send less.
export const CHANNEL_PACKET_SIZE = 256 * 1024 - 512;

/** The options the patched ssh2 Server and Client.connect() take (not in @types/ssh2). */
export interface ChannelLimits {
  channelPacketSize: number;
  channelWindow: number;
}

/** The patched ssh2 Server's options: channel limits, `ackWithIgnore` and `kexInitWait`. */
export interface ServerChannel extends ChannelLimits {
  /**
   * Answer a client's packet that nothing the server is about to send would acknowledge (a window
   * adjust while no data waits, data while the channel is out of window) with an SSH_MSG_IGNORE,
   * so that the TCP ACK leaves at once instead of after the kernel's delayed-ACK timer (40 ms),
   * which a client with Nagle on (stock ssh2, OpenSSH's sftp) waits for with its next requests.
   */
  ackWithIgnore: boolean;
  /**
   * Milliseconds the server waits for the client's KEXINIT before sending its own: sent in answer,
   * ours carries the TCP ACK of theirs. A stock ssh2 client sends its KEXINIT and at once its first
   * key exchange packet, which its Nagle holds until that ACK; when our KEXINIT had gone out first,
   * our kernel delayed the ACK by 40 ms in a third to half of the logins. Every common client (OpenSSH,
   * PuTTY, paramiko, Go's x/crypto/ssh, ssh2) sends its KEXINIT without waiting for ours; one that
   * waits gets ours after this.
   */
  kexInitWait: number;
}

/**
 * The server: larger packets (fewer decrypt calls, parses and stream pushes per byte uploaded by an
 * ssh2-based client), and stock ssh2's 2 MiB window, which bounds what one uploading session
 * buffers (an 8 MiB window measured no better; bench/README.md); IGNOREs instead of delayed ACKs
 * (bench/README.md, "Where the time goes: fastGet").
 */
export const SERVER_CHANNEL: ServerChannel = {
  channelPacketSize: CHANNEL_PACKET_SIZE,
  channelWindow: 2 * 1024 * 1024,
  ackWithIgnore: true,
  kexInitWait: 20,
};

/**
 * Our `ftp>` client (not the bench's ssh2 agent, which stays stock): larger packets and an 8 MiB
 * window. With 2 MiB the server runs out of window every megabyte, and a window adjust that waits
 * behind the client's previous small packet for the server's delayed ACK stalls the download for
 * 40 ms (bench/README.md, "Where the time goes: fastGet").
 */
export const CLIENT_CHANNEL: ChannelLimits = {
  channelPacketSize: CHANNEL_PACKET_SIZE,
  channelWindow: 8 * 1024 * 1024,
};
