// SPDX-License-Identifier: GPL-2.0
/*
 * The device table: every device type the VMM can build, by the name of
 * its option (--net for "net"). main.c parses "--<name> ARG" with the
 * entry's parse(); vm.c builds each device with create() in its own PCI
 * slot, in command line order, and destroys them in reverse order with
 * destroy(). A new device type is one more &struct vmm_dev_type here.
 */
#include <string.h>

#include "vmm.h"

static const struct vmm_dev_type *const vmm_dev_types[] = {
	&vmm_net_type,
};

const struct vmm_dev_type *vmm_dev_type_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vmm_dev_types); i++)
		if (!strcmp(vmm_dev_types[i]->name, name))
			return vmm_dev_types[i];
	return NULL;
}
