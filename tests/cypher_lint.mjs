// Lints Cypher statements with Neo4j's own linter against its bundled Neo4j 5 function and
// procedure schema. stdin: [{name, text}]; stdout: [{name, errors: [...], warnings: [...]}].
import { readFileSync } from 'node:fs';
import { lintCypherQuery, isNotParamError, testData } from '@neo4j-cypher/language-support';

const schema = {
  functions: testData.mockSchema.functions,
  procedures: testData.mockSchema.procedures,
  defaultLanguage: 'CYPHER 5',
};
const ERROR = 1;
const WARNING = 2;

const statements = JSON.parse(readFileSync(0, 'utf8'));
const report = statements.map(({ name, text }) => {
  // parameters are supplied at run time; the linter cannot know them, so those notes are dropped
  const diagnostics = lintCypherQuery(text, schema).diagnostics.filter(isNotParamError);
  const pick = (severity) =>
    diagnostics.filter((d) => d.severity === severity).map((d) => d.message);
  return { name, errors: pick(ERROR), warnings: pick(WARNING) };
});
process.stdout.write(JSON.stringify(report));
