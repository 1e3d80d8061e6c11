// The card vendor's transport master key for DEVELOPMENT card stock only, like GlobalPlatform's
// well-known default 40..4F test key: every blank virtual card's transport key is diversified
// from it by card id (profile section 6.1). Production stock comes with the vendor's own key.
export const DEV_VENDOR_TRANSPORT_MASTER_KEY = Buffer.from('404142434445464748494a4b4c4d4e4f', 'hex');
