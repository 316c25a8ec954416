/** The one table a SQL computation sees; rows are the dataset's rows. */
export const DATASET_TABLE = 'dataset';
/** Hidden sandbox column holding the row's position in the dataset (never visible to a query). */
export const ROW_COLUMN = '__row';
