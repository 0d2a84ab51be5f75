// The policy pack `pulumi preview --policy-pack policy` runs. The rules live in policies.ts, so
// the offline runner (npm run policy) runs these same functions without the Pulumi CLI.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, { policies });
