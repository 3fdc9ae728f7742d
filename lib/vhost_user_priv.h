/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to lib/vhost_user.c: the vhost-user wire format. No uapi header
 * has the message numbers, protocol feature bits or message layouts; the
 * values below are those of QEMU's docs/interop/vhost-user.rst
 * ("Front-end message types", "Protocol features", "Message
 * Specification"). Ring state and address payloads are the kernel's
 * struct vhost_vring_state and struct vhost_vring_addr
 * (<linux/vhost_types.h>).
 */
#ifndef _VDEV_LIB_VHOST_USER_PRIV_H
#define _VDEV_LIB_VHOST_USER_PRIV_H

#include <stdint.h>

#include <linux/vhost_types.h>

/* Feature bit 30 (VIRTIO "UNUSED"): protocol features are negotiated. */
#define VHOST_USER_F_PROTOCOL_FEATURES	30

/* Front-end requests (vhost-user.rst, "Front-end message types"). */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
};

/* Protocol feature bits (vhost-user.rst, "Protocol features"). */
#define VHOST_USER_PROTOCOL_F_MQ			0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD			1
#define VHOST_USER_PROTOCOL_F_RARP			2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK			3
#define VHOST_USER_PROTOCOL_F_MTU			4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ		5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN		6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION		7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT			8
#define VHOST_USER_PROTOCOL_F_CONFIG			9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD		10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER		11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD		12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE		13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS	14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS	15
#define VHOST_USER_PROTOCOL_F_STATUS			16

/* Header flags: version in bits 0-1, reply bit 2, need_reply bit 3. */
#define VHOST_USER_VERSION		0x1
#define VHOST_USER_VERSION_MASK		0x3
#define VHOST_USER_REPLY_MASK		(1U << 2)
#define VHOST_USER_NEED_REPLY_MASK	(1U << 3)

/* SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, bit 8 "no fd". */
#define VHOST_USER_VRING_IDX_MASK	0xffULL
#define VHOST_USER_VRING_NOFD_MASK	(1ULL << 8)

/* SET_MEM_TABLE carries at most this many regions (and fds). */
#define VHOST_MEMORY_BASELINE_NREGIONS	8
/* GET/SET_CONFIG: at most this much config space per message. */
#define VHOST_USER_MAX_CONFIG_SIZE	256
/* Most fds one message may carry. */
#define VHOST_USER_MAX_FDS		8

/*
 * Packed ring base (SET/GET_VRING_BASE): the driver side's offset in
 * bits 0-14 and wrap counter in bit 15; QEMU also carries the device
 * side's (used) offset and wrap counter in bits 16-31 the same way
 * (hw/virtio/virtio.c, virtio_queue_packed_get_last_avail_idx()); a
 * front-end that sends 0 there means "the same as the driver side".
 */
#define VHOST_USER_PACKED_WRAP		(1U << 15)
#define VHOST_USER_PACKED_OFF_MASK	0x7fffU
#define VHOST_USER_PACKED_USED_SHIFT	16

/**
 * struct vhost_user_hdr - every message starts with this
 * @request: enum vhost_user_request
 * @flags: VHOST_USER_VERSION and the REPLY / NEED_REPLY bits
 * @size: bytes of payload that follow
 */
struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

/**
 * struct vhost_user_region - one region of SET_MEM_TABLE / ADD_MEM_REG
 * @guest_phys_addr: guest-physical base
 * @memory_size: length
 * @userspace_addr: the front-end's virtual address of the base
 * @mmap_offset: offset of the base in the region's fd
 */
struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

/**
 * struct vhost_user_memory - SET_MEM_TABLE payload
 * @nregions: entries used in @regions (one fd each, in order)
 * @padding: zero
 * @regions: the table
 */
struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
};

/**
 * struct vhost_user_mem_reg - ADD_MEM_REG / REM_MEM_REG payload
 * @padding: zero
 * @region: the region
 */
struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_region region;
};

/**
 * struct vhost_user_config - GET_CONFIG / SET_CONFIG payload
 * @offset: offset in the device's config space
 * @size: bytes in @region
 * @flags: 0 (writable fields) or 1 (live migration)
 * @region: the bytes
 */
struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};

/* Config payload without its bytes. */
#define VHOST_USER_CONFIG_HDR_SIZE	12

/**
 * struct vhost_user_inflight - GET_INFLIGHT_FD / SET_INFLIGHT_FD payload
 * @mmap_size: bytes of the shared buffer
 * @mmap_offset: its offset in the fd
 * @num_queues: queues it tracks
 * @queue_size: entries per queue
 */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/**
 * union vhost_user_payload - every payload the back-end understands
 * @u64: a single 64-bit value
 * @state: vring index and number
 * @addr: vring addresses (front-end virtual addresses)
 * @memory: SET_MEM_TABLE
 * @mem_reg: ADD_MEM_REG / REM_MEM_REG
 * @config: GET_CONFIG / SET_CONFIG
 * @inflight: GET_INFLIGHT_FD / SET_INFLIGHT_FD
 */
union vhost_user_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_mem_reg mem_reg;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
};

/**
 * struct vhost_user_msg - one message, header and payload
 * @hdr: the header
 * @payload: @hdr.size bytes of it are valid
 */
struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union vhost_user_payload payload;
};

#endif /* _VDEV_LIB_VHOST_USER_PRIV_H */
