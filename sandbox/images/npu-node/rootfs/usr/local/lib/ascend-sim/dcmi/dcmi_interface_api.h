/*
 * ascend.mindie sandbox: stand-in for the DCMI header an Ascend driver install puts in
 * /usr/local/dcmi. It exists so that checks and container mounts that expect the file find
 * one; it declares only a few illustrative prototypes and links to nothing.
 * GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
 */
#ifndef ASCEND_SIM_DCMI_INTERFACE_API_H
#define ASCEND_SIM_DCMI_INTERFACE_API_H

#ifdef __cplusplus
extern "C" {
#endif

#define ASCEND_SIM_DCMI_OK 0
#define ASCEND_SIM_DCMI_ERR_INIT (-8005)

int dcmi_init(void);
int dcmi_get_card_num_list(int *card_num, int *card_list, int list_len);
int dcmi_get_device_health(int card_id, int device_id, unsigned int *health);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_SIM_DCMI_INTERFACE_API_H */
