import { createFilesSource, listAlertFiles } from "../../../core/source/files.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";
import { sharedData } from "../../shared_data.ts";
import { sourceContract } from "./contract.ts";

sourceContract("files", async () => {
  const folder = sharedData("ztf", "alerts", "fink-broker-local-20200101");
  const values = await Promise.all((await listAlertFiles(folder)).map((f) => Deno.readFile(f)));
  const dir = await Deno.makeTempDir({ prefix: "fink-files-source-" });
  return {
    source: createFilesSource(folder, { chunk: 7 }),
    expected: new TopicPartitionMap([[{ topic: "files", partition: 0 }, values]]),
    dir,
    close: () => Deno.remove(dir, { recursive: true }),
  };
});
