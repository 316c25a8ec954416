/**
 * The 12 industries and 8 domains of the Yunnan big-data task list (云南省重点行业和领域大数据开放开发工作重点任务分工表),
 * in its order. The slug is what the API and the CLI take; the names are for people.
 */
export const SECTORS = [
  { slug: 'tourism', zh: '旅游', en: 'Tourism' },
  { slug: 'forestry', zh: '林业', en: 'Forestry' },
  { slug: 'science', zh: '科技', en: 'Science and technology' },
  { slug: 'education', zh: '教育', en: 'Education' },
  { slug: 'health', zh: '医疗卫生', en: 'Health care' },
  { slug: 'transport-logistics', zh: '交通物流', en: 'Transport and logistics' },
  { slug: 'public-security', zh: '公共安全', en: 'Public security' },
  { slug: 'culture', zh: '文化', en: 'Culture' },
  { slug: 'quality-supervision', zh: '质量监督', en: 'Quality supervision' },
  { slug: 'food-drug-safety', zh: '食品药品安全', en: 'Food and drug safety' },
  { slug: 'urban-rural-services', zh: '城乡管理与服务', en: 'Urban and rural management and services' },
  { slug: 'ecology', zh: '生态环保', en: 'Ecology and environmental protection' },
  { slug: 'industry', zh: '工业', en: 'Industry' },
  { slug: 'agriculture', zh: '农业', en: 'Agriculture' },
  { slug: 'services', zh: '服务业', en: 'Services' },
  { slug: 'population', zh: '人口', en: 'Population' },
  { slug: 'legal-entities', zh: '法人单位', en: 'Legal entities' },
  { slug: 'macro-economy', zh: '宏观经济', en: 'Macro-economy' },
  { slug: 'natural-resources-geography', zh: '自然资源和空间地理', en: 'Natural resources and geography' },
  { slug: 'credit', zh: '社会信用', en: 'Social credit' },
] as const;

export type SectorSlug = (typeof SECTORS)[number]['slug'];
export const SECTOR_SLUGS = SECTORS.map((s) => s.slug) as [SectorSlug, ...SectorSlug[]];
