/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum on every segment header and
 * record. Same parameters as iSCSI (RFC 3720), ext4 and SSE4.2's crc32
 * instruction: reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF. dl_crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * The `crc` argument continues a running checksum: pass 0 to start, then the
 * previous result to extend it over more bytes.
 */
#ifndef DL_CRC32C_H
#define DL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Uses the CPU's CRC32C instruction when it has one, else the table code;
 * from 256 bytes on, ISA-L's crc32_iscsi where the library was built with
 * it (x86-64 with libisal-dev). */
uint32_t dl_crc32c(uint32_t crc, const void *buf, size_t len);

/* dl_crc32c over the 8 bytes of v, little-endian: one instruction where the
 * CPU has it (a record's checksum starts with its sequence number). */
uint32_t dl_crc32c_u64(uint32_t crc, uint64_t v);

/* The portable table-driven implementation (slicing-by-8). */
uint32_t dl_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* The instruction-based implementation, or NULL when this CPU lacks it
 * (tests compare it against the portable one). */
typedef uint32_t (*dl_crc32c_fn)(uint32_t crc, const void *buf, size_t len);
dl_crc32c_fn dl_crc32c_hw(void);

/* ISA-L's crc32_iscsi in this file's convention, for every length, or NULL
 * when the library was built without it (tests compare it too). */
dl_crc32c_fn dl_crc32c_isal(void);

/* Combining checksums without the bytes: for blocks A and B,
 *   dl_crc32c(0, A||B) == dl_crc32c_shift(dl_crc32c(0, A), |B|, 0) ^ dl_crc32c(0, B)
 * (zlib's crc32_combine). With `back`, the inverse: the shift by -bytes, so
 * that the checksum of A can be solved for from those of A||B and B. A few
 * hundred operations whatever `bytes` is. */
uint32_t dl_crc32c_shift(uint32_t crc, uint64_t bytes, int back);

#endif
