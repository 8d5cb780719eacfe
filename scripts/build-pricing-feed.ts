/**
 * Regenerates the vendored pricing feed from the public openai-json-pricing catalog:
 *   node scripts/build-pricing-feed.ts [catalog.json] [out.json]
 * The importer's own normalization does the work, so the vendored file can never disagree with a fetched catalog.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { formatPricingFeed, loadPricingFeedFile, VENDORED_PRICING_FEED } from '../src/accounting/index.ts';

const source = process.argv[2] ?? '/work/shared/data/openai-pricing.json';
const target = process.argv[3] ?? fileURLToPath(VENDORED_PRICING_FEED);

const feed = await loadPricingFeedFile(source);
await writeFile(target, formatPricingFeed(feed));
console.log(`wrote ${target}: ${feed.models.length} priced models, ${feed.skipped.length} skipped (generated_at ${feed.generated_at})`);
