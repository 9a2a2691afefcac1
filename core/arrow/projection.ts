/**
 * Column paths: `candidate` names a top-level column, `candidate.jd` the field `jd` of the
 * record column `candidate`, and through a list of records the path goes on to the records'
 * fields (`prv_candidates.jd`). A reader that needs five fields of a 100-field record asks for
 * those; {@link projectTable} cuts a table down to the paths asked for, sharing its buffers.
 */
import * as arrow from "apache-arrow";

/** Paths as a tree: each name maps to `true` (the whole field) or to the paths inside it. */
export type PathTree = Map<string, PathTree | true>;

/** The tree of `paths`; a whole field asked for wins over paths inside it. */
export function pathTree(paths: readonly string[]): PathTree {
  const root: PathTree = new Map();
  for (const path of paths) {
    const parts = path.split(".");
    let node = root;
    for (const [i, part] of parts.entries()) {
      const existing = node.get(part);
      if (existing === true) break;
      if (i === parts.length - 1) {
        node.set(part, true);
        break;
      }
      const next: PathTree = existing ?? new Map();
      node.set(part, next);
      node = next;
    }
  }
  return root;
}

/** The fields inside a type that a path goes on to: a record's, or its list's records'. */
function innerFields(type: arrow.DataType): readonly arrow.Field[] | null {
  if (arrow.DataType.isStruct(type)) return type.children;
  if (arrow.DataType.isList(type)) return innerFields(type.children[0].type);
  return null;
}

/** `type` cut down to `tree`, or null when none of the tree's paths exists in it. */
function projectType(type: arrow.DataType, tree: PathTree): arrow.DataType | null {
  if (arrow.DataType.isList(type)) {
    const child = type.children[0];
    const inner = projectType(child.type, tree);
    return inner === null
      ? null
      : new arrow.List(new arrow.Field(child.name, inner, child.nullable, child.metadata));
  }
  if (!arrow.DataType.isStruct(type)) return null;
  const fields = projectFields(type.children, tree);
  return fields.length === 0 ? null : new arrow.Struct(fields);
}

function projectFields(fields: readonly arrow.Field[], tree: PathTree): arrow.Field[] {
  const out: arrow.Field[] = [];
  for (const field of fields) {
    const sub = tree.get(field.name);
    if (sub === undefined) continue;
    if (sub === true) {
      out.push(field);
      continue;
    }
    const type = projectType(field.type, sub);
    if (type !== null) out.push(new arrow.Field(field.name, type, field.nullable, field.metadata));
  }
  return out;
}

/**
 * `data` (of a type that {@link projectType} cut down to `type`) with only `type`'s fields.
 * Records and lists are matched by field name, not by identity: the batches of a table may
 * carry type objects of their own, equal to the schema's.
 */
function projectData(data: arrow.Data, type: arrow.DataType): arrow.Data {
  if (!arrow.DataType.isStruct(type) && !arrow.DataType.isList(type)) return data;
  if (arrow.DataType.isList(type)) {
    return arrow.makeData({
      type,
      offset: data.offset,
      length: data.length,
      nullCount: data.nullCount,
      nullBitmap: data.nullBitmap,
      valueOffsets: data.valueOffsets,
      child: projectData(data.children[0], type.children[0].type),
    });
  }
  const source = (data.type as arrow.Struct).children;
  const children = (type as arrow.Struct).children.map((field) =>
    projectData(data.children[source.findIndex((f) => f.name === field.name)], field.type)
  );
  return arrow.makeData({
    type: type as arrow.Struct,
    offset: data.offset,
    length: data.length,
    nullCount: data.nullCount,
    nullBitmap: data.nullBitmap,
    children,
  });
}

/**
 * The columns and fields of `table` that `paths` name, in the table's order, sharing its
 * buffers. Paths that name nothing in the table are left out, as `Table.select` leaves out
 * names it does not have.
 */
export function projectTable(table: arrow.Table, paths: readonly string[]): arrow.Table {
  const tree = pathTree(paths);
  const fields = projectFields(table.schema.fields, tree);
  const schema = new arrow.Schema(fields, table.schema.metadata);
  const type = new arrow.Struct(fields);
  const batches = table.batches.map((batch) =>
    new arrow.RecordBatch(schema, projectData(batch.data, type) as arrow.Data<arrow.Struct>)
  );
  return new arrow.Table(schema, batches);
}

/**
 * The logical path (`prv_candidates.jd`) of a leaf column of a Parquet file, given as its
 * physical path (`prv_candidates.list.element.jd`: the list's and map's own groups included),
 * walking the file's Arrow schema; null when the schema does not describe it.
 */
export function logicalPath(schema: arrow.Schema, physical: readonly string[]): string | null {
  const top = schema.fields.find((f) => f.name === physical[0]);
  if (top === undefined) return null;
  const logical = [top.name];
  let type: arrow.DataType = top.type;
  for (let i = 1; i < physical.length;) {
    if (arrow.DataType.isList(type)) {
      // The repeated group (`list`) and the element itself.
      i += 2;
      type = type.children[0].type;
      continue;
    }
    if (arrow.DataType.isMap(type)) {
      // The repeated `key_value` group; then the entry's key and value as record fields.
      i += 1;
      type = type.children[0].type;
      continue;
    }
    const fields = innerFields(type);
    const field = fields?.find((f) => f.name === physical[i]);
    if (field === undefined) return null;
    logical.push(field.name);
    type = field.type;
    i++;
  }
  return logical.join(".");
}
