/**
 * Every column of a row type, by name, checked by the compiler against the type (a column missing
 * from the list, or one the row has not, is an error). A statement that names its columns keeps
 * its result type when a migration adds a column while the service runs, so it can be a prepared
 * statement (prepared-statements.ts); `select *` cannot.
 */
export const allColumns = <Row>(columns: { [K in keyof Row]-?: true }): (keyof Row & string)[] =>
  Object.keys(columns) as (keyof Row & string)[];
